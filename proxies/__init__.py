"""Real proxy configurations (nginx, HAProxy) as templates with time-scaled limits, one profile each (render.PROFILES).
Imports the server's contract only; everything that puts a proxy in front of a service imports it."""
