resource "aws_lb" "this" {
  #checkov:skip=CKV2_AWS_76:The Log4j rules (Log4JRCE) are in AWSManagedRulesKnownBadInputsRuleSet, which the web ACL runs (waf.tf). The check also demands AWSManagedRulesAnonymousIpList, which would stop VPN, Tor and cloud-hosted visitors from following links: a product decision, not a Log4j fix.
  name                       = var.name
  internal                   = false
  load_balancer_type         = "application"
  security_groups            = [aws_security_group.alb.id]
  subnets                    = var.public_subnet_ids
  drop_invalid_header_fields = true
  enable_deletion_protection = var.deletion_protection
  idle_timeout               = 30

  dynamic "access_logs" {
    for_each = var.alb_access_logs_bucket == null ? [] : [var.alb_access_logs_bucket]
    content {
      bucket  = access_logs.value
      prefix  = var.name
      enabled = true
    }
  }
}

resource "aws_lb_target_group" "this" {
  name        = var.name
  port        = local.container_port
  protocol    = "HTTP"
  target_type = "ip"
  vpc_id      = var.vpc_id

  # ECS deregisters a task here before it sends SIGTERM; the service then drains for up to
  # server.shutdown_timeout_seconds, below the container's stopTimeout.
  deregistration_delay = 30

  health_check {
    path                = "/health/ready"
    matcher             = "200"
    protocol            = "HTTP"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"
    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }
}

# README: expose /metrics to the monitoring network only. The ALB answers it with a 404 of its
# own; scrapers inside the VPC reach the tasks directly (var.metrics_scraper_security_group_ids).
resource "aws_lb_listener_rule" "hide_metrics" {
  listener_arn = aws_lb_listener.https.arn
  priority     = 1

  condition {
    path_pattern {
      values = ["/metrics", "/metrics/*"]
    }
  }

  action {
    type = "fixed-response"
    fixed_response {
      # The service's own 404 is application/problem+json; ALB fixed responses accept only
      # text/plain, text/css, text/html, application/javascript and application/json.
      content_type = "application/json"
      status_code  = "404"
      message_body = jsonencode({ type = "urn:url-shortener:problem:not_found", title = "Not found", status = 404, code = "not_found" })
    }
  }
}
