"""The web interface and the local JSON API on microdot: the server, access checks,
status and API (server), every less frequent request (admin, loaded on use, dropped when
idle). May import core, platform, net and web, no other service package."""
