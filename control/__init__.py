"""control: the MeshLens control plane.

- ``control.mesh_config``: the mesh.yaml model and its validation.
- ``control.ca``: the CA (root -> intermediate -> SPIFFE leaf) and trust bundles.
- ``control.api``: the HTTPS API (certificates, config watch, weights,
  revocations, intermediate rotation, denial reports) as ``ControlPlane``, and
  ``AdminClient``.
- ``control.policy``: the authorization evaluator the sidecars run.
- ``control.audit``: audit events to a JSON lines file and the ``audit_log`` table.
- ``control.testing``: a test CA. ``control.commands``: the CLI subcommands.

This module stays light (sidecars import the config model and the policy
evaluator through it); import the subpackages for the rest.
"""

from control.mesh_config import MeshConfig, MeshConfigError, load_mesh_config, validate_command
from control.policy import (
    Allowed,
    AuthzDecision,
    AuthzRequest,
    CallerPolicies,
    Denied,
    PolicyEvaluator,
)

__all__ = [
    "Allowed",
    "AuthzDecision",
    "AuthzRequest",
    "CallerPolicies",
    "Denied",
    "MeshConfig",
    "MeshConfigError",
    "PolicyEvaluator",
    "load_mesh_config",
    "validate_command",
]
