"""Page views, one module per area (accounts, alerts, classify, talk, campaigns, loop, console)."""
