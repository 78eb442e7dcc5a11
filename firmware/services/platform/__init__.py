"""The box itself: the log and the data log on flash, checksummed records and settings
(config), the supervisor and watchdog, software updates. May import core and platform
only: every other service package builds on it."""
