-- Argo CD health check for whatsapp-operator.io/WhatsAppSettingsProfile.
--
-- The status is kstatus-shaped (docs/gitops.md): status.observedGeneration plus the
-- conditions Ready, Reconciling and Stalled, each with observedGeneration, next to the
-- rollout's progress (revision, updated/total, inFlight, failed). Mapped the way kstatus
-- (Flux) maps it, so Argo CD and Flux agree: a rollout still moving (Reconciling=True
-- RollingOut) is Progressing, every instance on the profile's revision (Ready=True
-- RolledOut) is Healthy. A paused rollout (Stalled=True RolloutPaused: an instance did
-- not come back after applying the change) is Degraded, not Suspended: nobody chose to
-- pause it, and it stays paused until a person fixes that instance or the profile.
local hs = {}

local function condition(kind)
  -- A numeric loop, not ipairs: scripts pasted into argocd-cm run without the Lua
  -- standard libraries unless resource.customizations.useOpenLibs is set.
  local conditions = obj.status.conditions
  for i = 1, #conditions do
    if conditions[i].type == kind then
      return conditions[i]
    end
  end
  return nil
end

local function text(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return fallback
end

if obj.status == nil or obj.status.conditions == nil or #obj.status.conditions == 0 then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator"
  return hs
end

if obj.metadata.generation ~= nil and obj.status.observedGeneration ~= nil
    and obj.metadata.generation ~= obj.status.observedGeneration then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe the latest spec"
  return hs
end

local stalled = condition("Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = text(stalled, stalled.reason)
  return hs
end

local reconciling = condition("Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = text(reconciling, reconciling.reason)
  return hs
end

local ready = condition("Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = text(ready, "Ready")
  return hs
end

hs.status = "Progressing"
hs.message = text(ready, "Waiting for the operator")
return hs
