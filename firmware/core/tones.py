"""Buzzer sounds as data: (frequency Hz, duration ms) pairs; frequency 0 is a pause."""

BEEP = ((2000, 150),)  # service button: first signal tone
SECOND_BEEP = ((2000, 150), (0, 100), (2000, 150))  # second signal tone
RISING = ((1000, 100), (1500, 100), (2000, 150))  # authorization successful
FALLING = ((2000, 100), (1500, 100), (1000, 150))  # authorization unsuccessful
FAULT = ((800, 400),)
