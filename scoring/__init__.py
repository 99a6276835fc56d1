"""Stage 2: KPIs and scores per vendor x process x period (contract sections 2 to 4)."""
