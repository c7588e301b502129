"""Published OPC UA companion-specification NodeSets (MIT; see LICENSE and README.md here)."""
