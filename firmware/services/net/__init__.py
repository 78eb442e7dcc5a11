"""The links: Wi-Fi, hotspot, LAN and the clock (network), the LAN port's DHCP server
(dhcpd), name lookups, streams and the WebSocket client (websocket). May import core,
platform and net."""
