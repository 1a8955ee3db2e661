"""A local Identity Cloud tenant simulator serving the self-service promotions API over real HTTPS.

Run it with ``python -m tests.simulator --help``; drive it from tests with ``tests.simulator.control.Simulator``.
"""
