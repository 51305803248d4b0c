// Placeholder until pellet-load lands; delete me.
