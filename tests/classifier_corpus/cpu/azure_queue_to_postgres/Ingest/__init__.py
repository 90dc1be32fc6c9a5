import json
import logging
import os

import azure.functions as func
import psycopg2


def main(msg: func.QueueMessage) -> None:
    event = json.loads(msg.get_body().decode())
    with psycopg2.connect(os.environ["PG_DSN"]) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO events (kind, payload) VALUES (%s, %s)", (event["kind"], json.dumps(event)))
    logging.info("stored %s", event["kind"])
