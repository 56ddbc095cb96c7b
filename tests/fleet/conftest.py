def pytest_configure(config):
    config.addinivalue_line(
        "markers", "fleet: needs root; builds real SSH hosts (overlay + netns + sshd) with tests/fleet/fleet.py"
    )
