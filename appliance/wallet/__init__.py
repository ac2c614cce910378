"""Bitcoin payments' network side: exchange rates and Bolt Card (LNURL-withdraw)."""
