"""`whatsapp-operator check`: a read-only look at a GREEN-API account as the operator sees it."""
