"""Gaia for OpenFaaS: GPU-as-a-service for serverless AI.

Import names live under ``gaia_faas``: ``gaia_faas.classifier`` (folder ``classifier/``) and
``gaia_faas.gateway_plugin`` (folder ``gateway_plugin/``).
"""

__version__ = "0.1.0"
