# One image for every handler; Cloud Run picks the entry point with FUNCTION_TARGET,
# FUNCTION_SOURCE and FUNCTION_SIGNATURE_TYPE (see terraform/run.tf; cloudevent by default,
# the step handlers carry no decorator; api registers itself as http).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PORT=8080 CONVERGENCE_MODE=cloud \
    CONVERGENCE_CONFIG_DIR=/app/configs FUNCTION_SIGNATURE_TYPE=cloudevent
WORKDIR /app
COPY pyproject.toml README.md ./
COPY events ./events
COPY lib ./lib
COPY handlers ./handlers
RUN pip install --no-cache-dir .
COPY configs ./configs
USER 65532:65532
CMD ["sh", "-c", "exec functions-framework --port=${PORT}"]
