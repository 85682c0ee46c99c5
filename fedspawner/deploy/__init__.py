"""Deployment helpers: installing the hub with zero-to-jupyterhub, onboarding member clusters."""
