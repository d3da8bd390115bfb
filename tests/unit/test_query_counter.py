"""The opt-in X-Query-Count header the benchmark reads."""
import sqlalchemy as sa

from app import create_app
from app.access import public
from app.extensions import db
from config import TestConfig


def _app(tmp_path, on: bool):
    config = TestConfig()
    config.SQLALCHEMY_DATABASE_URI = f"sqlite:///{tmp_path / 'count.db'}"
    config.QUERY_COUNT_HEADER = on
    app = create_app(config)

    @app.get("/_count/<int:n>")
    @public
    def run_statements(n):
        for _ in range(n):
            db.session.execute(sa.text("SELECT 1"))
        return "ok"
    return app


def test_header_counts_the_statements_of_each_request(tmp_path):
    client = _app(tmp_path, on=True).test_client()
    assert client.get("/_count/3").headers["X-Query-Count"] == "3"
    # A count per request, not a running total.
    assert client.get("/_count/1").headers["X-Query-Count"] == "1"
    assert client.get("/_count/0").headers["X-Query-Count"] == "0"


def test_no_header_unless_switched_on(tmp_path):
    client = _app(tmp_path, on=False).test_client()
    response = client.get("/_count/2")
    assert response.status_code == 200
    assert "X-Query-Count" not in response.headers

