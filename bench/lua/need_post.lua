-- wrk: POST /api/v1/needs, each request a new need of the cycle $NEED_YEAR (in intake).
local body = '{"cycle_year":' .. os.getenv("NEED_YEAR") .. ',"title":"Benchmarkbehov",' ..
  '"description":"' .. string.rep("d", 300) .. '","expected_benefit":"' .. string.rep("b", 200) .. '",' ..
  '"origin":"users","estimated_study_cost_nok":100000}'
local headers = {
  ["Authorization"] = "Bearer " .. os.getenv("NEED_TOKEN"),
  ["Content-Type"] = "application/json",
}
function request()
  return wrk.format("POST", "/api/v1/needs", headers, body)
end
