"""pose-service: 4D-Humans (HMR 2.0) + PHALP tracking behind a Redis job queue."""

__version__ = "0.1.0"
