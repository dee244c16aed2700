-- Argo CD health of a TrainingJob (training.crosscloud.dev/v1alpha1).
-- Progressing while the operator has not seen the newest spec; then by phase:
-- Succeeded -> Healthy, Failed -> Degraded, Suspended -> Suspended,
-- anything else -> Progressing, with the most telling condition's message
-- (WorkloadBlocked when it holds, else Running when True, else Placed).
local hs = { status = "Progressing", message = "Waiting for the operator to report status" }

local function condition(conditions, type)
  if conditions == nil then return nil end
  for _, c in ipairs(conditions) do
    if c.type == type then return c end
  end
  return nil
end

local function messageOf(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then return c.message end
  return fallback
end

if obj.status == nil then return hs end
local status = obj.status
local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end

local conditions = status.conditions
local phase = status.phase or "Pending"
if phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = messageOf(condition(conditions, "Succeeded"), "The training job succeeded")
elseif phase == "Failed" then
  hs.status = "Degraded"
  hs.message = messageOf(condition(conditions, "Failed"), "The training job failed")
elseif phase == "Suspended" or (obj.spec ~= nil and obj.spec.suspend == true) then
  hs.status = "Suspended"
  hs.message = messageOf(condition(conditions, "Suspended"), "The training job is suspended")
else
  hs.status = "Progressing"
  -- What keeps the workload from starting (an image, a refusal on the worker) says the most.
  local telling = condition(conditions, "WorkloadBlocked")
  if telling == nil or telling.status ~= "True" then telling = condition(conditions, "Running") end
  if telling == nil or telling.status ~= "True" then telling = condition(conditions, "Placed") end
  hs.message = phase .. ": " .. messageOf(telling, "in progress")
end
return hs
