"""The project's Celery app plus one task that logs a card number, for the worker-logging test
(tests/test_security_celery_logging.py): `celery -A tests.celery_log_app worker` runs it."""

from celery.signals import worker_init, worker_ready
from celery.utils.log import get_task_logger

from config.celery import app

TEST_PAN = "4242424242424242"
logger = get_task_logger(__name__)


@worker_init.connect
def receive_through_the_broker(**kwargs) -> None:
    """The test settings run tasks eagerly; this worker must receive its task through the
    broker. Set in the worker only: the test process imports this module too."""
    app.conf.task_always_eager = False


@app.task(name="tests.log_card_number")
def log_card_number() -> None:
    logger.warning("provider said: card %s declined", TEST_PAN)
    logger.info("log_card_number finished")


@worker_ready.connect
def send_the_task(**kwargs) -> None:
    log_card_number.delay()
