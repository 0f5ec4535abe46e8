"""Alerts by choreography: the ``notify`` handler tells a tenant's channels about failures.

``notify`` is subscribed (``events/topology.json``) to ``run-failed`` and ``dq-failed``. For
each event it reads the tenant's ``configs/<tenant>/notifications.yml`` (:mod:`.config`),
builds one message (:mod:`.message`), delivers it to every matching channel — a signed
generic webhook or a Slack-compatible incoming webhook — with timeouts and retries
(:mod:`.deliver`), and records each delivery in ``{tenant}_metadata.notifications``
(:mod:`.ledger`), so a redelivered event notifies once. :mod:`.handler` puts it together.
"""
