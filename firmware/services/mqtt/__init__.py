"""MQTT: the settings and the supervised task (service, always loaded), the MQTT 3.1.1
client, states, discovery and commands (link, loaded when MQTT is on). May import core,
platform, net and mqtt, no other service package."""
