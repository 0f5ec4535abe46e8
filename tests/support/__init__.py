"""Test support: emulators, servers and fakes shared by the cloud tests."""
