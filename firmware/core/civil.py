"""Civil (proleptic Gregorian) calendar arithmetic, for OCPP's time stamps and the
planner's local time: pure integers, no time zone database, no `time` module."""


def days(y, m, d):
    """Days since 1970-01-01 of the date y-m-d (Howard Hinnant's days_from_civil)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def from_unix(t):
    """(year, month, day, hour, minute, second, weekday 0 = Monday) of Unix seconds."""
    n = t // 86400
    z = n + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    m = mp + (3 if mp < 10 else -9)
    s = t % 86400
    return (yoe + era * 400 + (m <= 2), m, doy - (153 * mp + 2) // 5 + 1,
            s // 3600, s // 60 % 60, s % 60, (n + 3) % 7)
