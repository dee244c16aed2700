-- Argo CD health of a ComputeCluster (training.crosscloud.dev/v1alpha1), from
-- the Reachable and Ready conditions crosscloud-operator writes after each
-- heartbeat (its src/api/computecluster.ts and src/controller/computecluster/).
-- Healthy when Ready (Suspended when paused), Degraded when the operator cannot
-- reach it or it is not Ready, Progressing until the operator first reports.
-- Uses no standard library, as Argo CD runs these scripts without it.
local hs = { status = "Progressing", message = "Waiting for the operator's first heartbeat" }

local function condition(conditions, type)
  if conditions == nil then return nil end
  for _, c in ipairs(conditions) do
    if c.type == type then return c end
  end
  return nil
end

if obj.status == nil or obj.status.conditions == nil then return hs end
local status = obj.status
local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end

local reachable = condition(status.conditions, "Reachable")
local ready = condition(status.conditions, "Ready")
if reachable ~= nil and reachable.status == "False" then
  hs.status = "Degraded"
  hs.message = reachable.message or "The operator cannot reach the cluster"
elseif ready ~= nil and ready.status == "True" then
  if obj.spec ~= nil and obj.spec.paused == true then
    hs.status = "Suspended"
    hs.message = "Paused: no new placements"
  else
    hs.status = "Healthy"
    hs.message = ready.message or "Ready"
  end
elseif ready ~= nil and ready.status == "False" then
  hs.status = "Degraded"
  hs.message = ready.message or "Not ready"
end
return hs
