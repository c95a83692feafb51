"""The reference server: an aiohttp service doing long-running downloads right, with its workers, stores and web page.
Imports none of this project's other packages; they import its contract (`reference_server.contract`)."""
