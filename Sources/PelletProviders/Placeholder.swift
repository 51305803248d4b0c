// Placeholder until PelletProviders lands; delete me.
