"""A bare Flask "hello": the benchmark's baseline, served by the same gunicorn
settings as the portal, so each page's throughput can be read as a fraction
of what the server and the clients can do at all on this machine."""
from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return "Hello"
