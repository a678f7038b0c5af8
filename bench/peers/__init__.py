"""The peers of `make bench NAME=peers`: django-post-office and django-newsletter, installed by
the benchmark into their own virtualenv (var/bench/peers-venv). Nothing here imports Bulletin;
these files are only the small Django project that hosts the peers for the measurement."""
