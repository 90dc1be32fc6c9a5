# Image of the gateway plugin; build from the repository root:
#   docker build -f deploy/gateway.Dockerfile -t ghcr.io/gaia-faas/gaia-gateway:0.1.0 .
FROM python:3.12-slim-bookworm
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gaia_faas ./gaia_faas
COPY classifier ./classifier
COPY gateway_plugin ./gateway_plugin
RUN pip install --no-cache-dir . \
    && rm -rf /src \
    && useradd --system --uid 10001 --no-create-home gaia
WORKDIR /
USER 10001
EXPOSE 8080
ENTRYPOINT ["gaia"]
CMD ["gateway"]
