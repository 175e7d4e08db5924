// The kura web console (placeholder: the front end lands in branch i19-frontend).
