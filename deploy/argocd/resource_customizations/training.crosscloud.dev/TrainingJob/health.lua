-- Argo CD health of a TrainingJob (training.crosscloud.dev/v1alpha1), from the
-- status crosscloud-operator writes: status.phase, status.conditions and
-- status.failovers (the phases are in its src/api/trainingjob-status.ts, the
-- condition types and reasons in src/api/conditions.ts, the failover steps in
-- src/controller/trainingjob/failover.ts).
--   Progressing while the operator has not seen the newest spec;
--   Succeeded -> Healthy, Failed -> Degraded, Suspended -> Suspended;
--   FailingOver -> Progressing, with why the job moves and how far the move is;
--   a job whose cluster or capacity is lost while spec.failover.enabled is
--   false -> Degraded: it stays where it cannot run;
--   Stalled=True (the job cannot go on until its spec or its worker changes:
--   kstatus's Failed) -> Degraded, with the Stalled condition's reason and message;
--   anything else -> Progressing, with the most telling condition's message.
-- Uses no standard library, as Argo CD runs these scripts without it.
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

local function holds(c)
  return c ~= nil and c.status == "True"
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
local running = condition(conditions, "Running")
local failedOver = condition(conditions, "FailedOver")
if phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = messageOf(condition(conditions, "Succeeded"), "The training job succeeded")
elseif phase == "Failed" then
  hs.status = "Degraded"
  hs.message = messageOf(condition(conditions, "Failed"), "The training job failed")
elseif phase == "Suspended" or (obj.spec ~= nil and obj.spec.suspend == true) then
  hs.status = "Suspended"
  hs.message = messageOf(condition(conditions, "Suspended"), "The training job is suspended")
elseif phase == "FailingOver" then
  -- The newest failover record says why the job moves (ClusterLost, CapacityLost, Drained).
  local moves = status.failovers
  local why = "a failover"
  if moves ~= nil and #moves > 0 and moves[#moves].reason ~= nil then why = moves[#moves].reason end
  hs.status = "Progressing"
  hs.message = "FailingOver after " .. why .. ": " .. messageOf(failedOver, messageOf(running, "moving the job"))
elseif running ~= nil and running.status == "False" and (running.reason == "ClusterLost" or running.reason == "CapacityLost")
    and failedOver ~= nil and failedOver.reason == "FailoverDisabled" then
  -- Failover is off: the job stays on a cluster that does not answer, or without its nodes.
  hs.status = "Degraded"
  hs.message = running.reason .. ": " .. messageOf(failedOver, messageOf(running, "failover is off"))
elseif holds(condition(conditions, "Stalled")) then
  -- The operator's Stalled (kstatus's Failed): nothing moves until someone changes something
  -- (an image that cannot be pulled, a refusal on the worker, no cluster allowed, an error that lasts).
  local stalled = condition(conditions, "Stalled")
  hs.status = "Degraded"
  hs.message = phase .. ": " .. (stalled.reason or "Stalled") .. ": " .. messageOf(stalled, "the job cannot go on")
else
  hs.status = "Progressing"
  -- What keeps the workload from starting (an image, a refusal on the worker) says the most; then
  -- Placed while the job waits for a place, Running once it has one.
  local telling = condition(conditions, "WorkloadBlocked")
  if not holds(telling) then
    local placed = condition(conditions, "Placed")
    if phase == "Pending" or phase == "Placing" or phase == "Scaling" then
      telling = placed or running
    else
      telling = running or placed
    end
  end
  hs.message = phase .. ": " .. messageOf(telling, "in progress")
end
return hs
