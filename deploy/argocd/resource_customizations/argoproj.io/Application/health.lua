-- Argo CD health of a child Application in an app-of-apps: its own health, so
-- that the parent's sync waves wait for each child to be Healthy. Argo CD
-- stopped assessing Applications in 1.8 and its resource health docs tell
-- app-of-apps users to restore this check in argocd-cm; it is not meant to be
-- contributed upstream (unlike training.crosscloud.dev/).
-- Uses no standard library, as Argo CD runs these scripts without it.
local hs = { status = "Progressing", message = "Waiting for the Application's health" }
if obj.status ~= nil and obj.status.health ~= nil and obj.status.health.status ~= nil then
  hs.status = obj.status.health.status
  hs.message = obj.status.health.message or ""
end
return hs
