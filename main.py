from firmware import app

app.main()
