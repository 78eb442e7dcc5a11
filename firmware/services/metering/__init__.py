"""Energy meters and load management: the meter settings and task (service, always
loaded), the polling and load management (polling, loaded once a meter or a solar mode
is on). May import core, drivers, platform and metering, no other service package."""
