-- Scenario k: each request carries a new query string, so no two requests on a connection are
-- the same bytes (no server can answer from a cache of the previous request's bytes).
local counter = 0

request = function()
  counter = counter + 1
  return wrk.format("GET", wrk.path .. "?n=" .. counter)
end
