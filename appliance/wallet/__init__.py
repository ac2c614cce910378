"""Bitcoin payments' outside world, watch-only: descriptors and addresses, chain sources,
exchange rates and Bolt Card (LNURL-withdraw). No spending key, ever."""
