"""`proxybench check`: a service described by target.toml, judged behind the real proxies (also the load tests' target).
Imports `stack`, `core` and `proxies`; load tests import its target description, nothing here imports them."""
