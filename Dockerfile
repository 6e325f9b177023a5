# The cutover suite for the nightly staging job: checks real endpoints and the cluster.
# nginx and Envoy are not installed: the embedded lab is for laptops and CI, not this job.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /opt/cutover
COPY pyproject.toml README.md conftest.py ./
COPY src ./src
COPY tests_migration ./tests_migration
COPY fixtures/targets ./fixtures/targets
RUN pip install . \
    && useradd --uid 10001 --create-home cutover \
    && mkdir -p /reports && chown cutover /reports
USER 10001
# Reports go to /reports (a volume); the targets file is mounted from a ConfigMap.
ENTRYPOINT ["pytest", "-p", "no:cacheprovider", "--report-dir", "/reports"]
CMD ["-m", "wave2", "--targets", "/etc/cutover/targets/targets.yaml"]
