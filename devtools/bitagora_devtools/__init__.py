"""BitAgora POS development tools: simulators, the demo, the scripted kiosk. Never on a device."""
