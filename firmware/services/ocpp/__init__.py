"""The backend, an OCPP 1.6J charge point: the connection, transaction queue and
indicators (backend), its answers to the central system's CALLs (calls, loaded per CALL)
and management CALLs (mgmt, loaded for those). May import core, platform, net and ocpp,
no other service package."""
