"""The backend, an OCPP 1.6J charge point: the charge point's behaviour (backend: the
sessions, limits, indicators) on its connection (link: connect, boot, send, answer),
the transaction queue on flash (txqueue), the answers to the central system's CALLs
(calls, loaded per CALL) and management CALLs (mgmt, loaded for those), and what they
share (common). May import core, platform, net and ocpp, no other service package."""
