-- wrk: PUT score sheets (replace, with If-Match) round robin over the sheets listed in
-- $SHEETS_FILE ("need_id org_number version token" per line). Thread n of N takes the sheets
-- with index ≡ n (mod N), so two threads never race for one sheet; each sheet comes round
-- again only after every other sheet of the thread, long after its previous answer.
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

local sheets, i = {}, 0
function init(args)
  local nthreads = tonumber(os.getenv("WRK_THREADS") or "2")
  local n = 0
  for line in io.lines(os.getenv("SHEETS_FILE")) do
    local need, org, version, token = line:match("^(%S+) (%S+) (%S+) (%S+)$")
    if need and n % nthreads == tid then
      table.insert(sheets, {need = need, org = org, version = tonumber(version), token = token})
    end
    n = n + 1
  end
end

local body = '{"scores":[{"code":"PASIENTNYTTE","value":4},{"code":"KVALITET","value":3},' ..
  '{"code":"EFFEKTIVITET","value":5},{"code":"REGIONAL","value":2},{"code":"MODENHET","value":3},' ..
  '{"code":"RISIKO","value":4},{"code":"LOVKRAV","value":1},{"code":"ARBEIDSMILJO","value":3}],' ..
  '"comment":"benchmark"}'

function request()
  i = i % #sheets + 1
  local s = sheets[i]
  local headers = {
    ["Authorization"] = "Bearer " .. s.token,
    ["Content-Type"] = "application/json",
    ["If-Match"] = '"v' .. s.version .. '"',
  }
  s.version = s.version + 1
  return wrk.format("PUT", "/api/v1/needs/" .. s.need .. "/scores/" .. s.org, headers, body)
end
