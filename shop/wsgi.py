import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
# A web worker runs one request at a time beside other workers on the same cores: torch's small per-request
# work (a query embedding, a recommendation) gains nothing from a thread pool and, on a busy machine, loses a
# lot waiting for it (measured: query embedding p95 ~1 s with two threads at load 4, 45 ms with one).
# Set before torch is imported; an explicit OMP_NUM_THREADS wins.
os.environ.setdefault("OMP_NUM_THREADS", "1")
application = get_wsgi_application()
