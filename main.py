# boot.py ran just before in the same globals and defined start(): the app, unless the
# service button was held at power-up. Without it (boot.py failed) start the app plainly.
try:
    start  # noqa: B018, F821
except NameError:
    from firmware import app

    app.main()
else:
    start()  # noqa: F821
