"""imagestore-admin: the platform team's commands against a stage (deployed or the local stack)."""
