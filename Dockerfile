# One image for the web process and the workers. The web image carries no torch (the web process
# never imports it); GPU workers build with TORCH=torch to get PyPI's CUDA build of their choice.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN apt-get update && apt-get install -y --no-install-recommends libsndfile1 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY evalsite evalsite
COPY ratings ratings
COPY generation generation
COPY analysis analysis
COPY manage.py ./
ARG TORCH=""
RUN pip install --no-cache-dir . gunicorn && if [ -n "$TORCH" ]; then pip install --no-cache-dir "$TORCH"; fi
EXPOSE 8000
