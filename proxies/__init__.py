"""Real proxy configurations (nginx, HAProxy) as templates, rendered with time-scaled limits."""
